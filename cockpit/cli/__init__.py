"""`cockpit …`: the command line. `main` assembles the parser from one module per command
group (each registers its own subcommands); bad input ends in one line and exit code 2."""
