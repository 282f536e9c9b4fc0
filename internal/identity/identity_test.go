package identity

import (
	"context"
	"testing"
)

func TestContextCarriesThePrincipal(t *testing.T) {
	if p := FromContext(context.Background()); !p.IsAnonymous() {
		t.Fatalf("a bare context carries %+v, want anonymous", p)
	}
	want := Principal{Name: "alice", Method: MethodBasic}
	if got := FromContext(NewContext(context.Background(), want)); got != want || got.IsAnonymous() {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
