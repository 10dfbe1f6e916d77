package stream_test

import (
	"fmt"
	"strings"

	"github.com/faultline/faultline/stream"
)

func ExampleParseOutcome() {
	o := stream.ParseOutcome("SIGBUS BUS_MCEERR_AR @A+0x10 lsb=12")
	fmt.Println(o.Kind, o.Signal, o.Code, o.Address.Region, o.Address.Offset, *o.LSB)
	// Output: signal SIGBUS BUS_MCEERR_AR A 16 12
}

func ExampleRead() {
	in := `{"type":"difference","command":"diff","scenario":"hwpoison-4k","arch":"riscv64","rule":"poison-as-adrerr","native":{"text":"SIGBUS BUS_ADRERR @A lsb=0","kind":"signal"},"generic":{"text":"SIGBUS BUS_MCEERR_AR @A lsb=12","kind":"signal"}}
{"type":"summary","command":"diff","differences":1}
`
	err := stream.Read(strings.NewReader(in), "diff.json", func(r stream.Record) error {
		switch v := r.Value.(type) {
		case *stream.Difference:
			fmt.Printf("%s on %s: %s -> %s (%s)\n", v.Scenario, v.Arch, v.Native.Text, v.Generic.Text, v.Rule)
		case *stream.DiffSummary:
			fmt.Println(v.Differences, "difference")
		}
		return nil
	})
	fmt.Println(err)
	// Output:
	// hwpoison-4k on riscv64: SIGBUS BUS_ADRERR @A lsb=0 -> SIGBUS BUS_MCEERR_AR @A lsb=12 (poison-as-adrerr)
	// 1 difference
	// <nil>
}
