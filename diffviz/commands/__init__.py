"""One module per `diffviz` subcommand."""
