package cluster_test

import (
	"os"
	"testing"

	"github.com/bindery/bindery/internal/devtools/cluster"
)

func TestMain(m *testing.M) {
	cluster.RunNodeIfAsked()
	os.Exit(m.Run())
}
