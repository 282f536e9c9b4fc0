package avrocompat

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestJavaStringMatchesAvroJava checks JavaString against what Avro's Java
// library (1.12.0, the one Confluent Schema Registry parses with) prints
// for each schema: testdata/java-tostring.txt holds pairs of lines, a
// schema and Schema.toString() of it, recorded by running Avro Java.
func TestJavaStringMatchesAvroJava(t *testing.T) {
	f, err := os.Open("testdata/java-tostring.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		in := sc.Text()
		if !sc.Scan() {
			t.Fatalf("%q has no expected output", in)
		}
		want := sc.Text()
		n++
		if _, err := Parse(in); err != nil {
			t.Errorf("Parse(%s): %v", in, err)
			continue
		}
		got, err := JavaString(in)
		if err != nil {
			t.Errorf("JavaString(%s): %v", in, err)
			continue
		}
		if got != want {
			t.Errorf("JavaString(%s)\n got %s\nwant %s", in, got, want)
		}
	}
	if n < 20 {
		t.Fatalf("only %d cases read", n)
	}
}

func TestJavaStringWritesReferencedTypesByName(t *testing.T) {
	ref := `{"type":"record","name":"Money","namespace":"shop","fields":[{"name":"cents","type":"long"}]}`
	schema := `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"total","type":"Money"},{"name":"other","type":"shop.Money"}]}`
	got, err := JavaString(schema, ref)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"total","type":"Money"},{"name":"other","type":"Money"}]}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// TestNormalizedJavaString pins what ?normalize=true stores: Confluent
// normalizes (AvroSchemaUtils.toNormalizedString: properties and aliases
// sorted, defaults as the Java values they hold) and stores the Java
// printing of the result, so two schemas differing only in those orders,
// or in 1 against 1.0 as a double's default, are the same schema.
func TestNormalizedJavaString(t *testing.T) {
	a := `{"type":"record","name":"R","namespace":"n","aliases":["z","a"],"zp":1,"ap":2,"fields":[{"name":"f","type":"double","default":1,"aliases":["y","b"]}]}`
	b := `{"type":"record","name":"n.R","ap":2,"zp":1,"aliases":["a","z"],"fields":[{"aliases":["b","y"],"name":"f","type":"double","default":1.0}]}`
	want := `{"type":"record","name":"R","namespace":"n","fields":[{"name":"f","type":"double","default":1.0,"aliases":["b","y"]}],"ap":2,"zp":1,"aliases":["a","z"]}`
	for _, s := range []string{a, b} {
		n, err := Normalize(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := JavaString(n)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("normalized %s\n got %s\nwant %s", s, got, want)
		}
	}
}

// FuzzJavaString: what Parse accepts, JavaString prints without failing;
// the text printed parses again, to a schema that reads and writes the
// same bytes, and prints the same (Java's printing is a fixpoint).
func FuzzJavaString(f *testing.F) {
	b, err := os.ReadFile("testdata/java-tostring.txt")
	if err != nil {
		f.Fatal(err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		if i%2 == 0 && line != "" {
			f.Add(line)
		}
	}
	f.Fuzz(func(t *testing.T, text string) {
		s, err := Parse(text)
		if err != nil {
			return
		}
		j, err := JavaString(text)
		if err != nil {
			t.Fatalf("parses but does not print: %v", err)
		}
		s2, err := Parse(j)
		if err != nil {
			t.Fatalf("printed %s does not parse: %v", j, err)
		}
		if Canonical(s) != Canonical(s2) {
			t.Fatalf("printing changed the schema:\n%s\n%s", Canonical(s), Canonical(s2))
		}
		if j2, err := JavaString(j); err != nil || j2 != j {
			t.Fatalf("printing is not a fixpoint:\n%s\n%s", j, j2)
		}
	})
}
