package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/docs"
)

// addHelp replaces cobra's help command with one that fails on what it
// does not know (cobra's prints the usage and exits 0), and adds each
// document of package docs as a help topic: "faultline help
// scenario-format" prints the language reference from the binary itself.
// It must run after every command is added: a topic never shadows one.
func addHelp(root *cobra.Command) {
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [COMMAND | TOPIC]",
		Short: "Help about any command, or print a documentation topic",
		Long: `Help prints the help of a command, or a document that ships in the binary
(the "Additional help topics" of faultline help): scenario-format is the
reference of the scenario language. A command or topic that does not
exist is an error (exit status 2).`,
		RunE: func(c *cobra.Command, args []string) error {
			target, rest, err := c.Root().Find(args)
			if target == nil || err != nil || len(rest) > 0 {
				return &exitError{2, fmt.Sprintf("help %s: no such command or topic (faultline help lists them)", strings.Join(args, " "))}
			}
			target.InitDefaultHelpFlag()
			target.InitDefaultVersionFlag()
			return target.Help()
		},
	})
	taken := map[string]bool{"help": true}
	for _, c := range root.Commands() {
		taken[c.Name()] = true
	}
	for _, t := range docs.Topics() {
		if taken[t.Name] {
			continue
		}
		// A command without Run and subcommands is a help topic to
		// cobra: listed apart, its help is its Long text alone.
		topic := &cobra.Command{
			Use:   t.Name,
			Short: t.Title,
			Long:  string(t.Text),
		}
		// The document as it is, not cobra's trimmed and padded Long.
		topic.SetHelpFunc(func(c *cobra.Command, _ []string) {
			c.OutOrStdout().Write(t.Text)
		})
		root.AddCommand(topic)
	}
}
