package meshfile

import "fmt"

func errFmt(format string, args ...any) error { return fmt.Errorf(format, args...) }
