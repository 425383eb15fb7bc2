"""`python -m tre_cli`: the same as the `tre` command."""

from tre_cli.main import main

raise SystemExit(main())
