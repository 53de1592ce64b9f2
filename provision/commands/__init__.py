"""The command handlers behind `provision <command>`: parse options, call the layers below, print,
return an exit code. No domain logic lives here: what a command computes belongs to the layer
that owns it (runner, verify, history, report, onboard)."""
