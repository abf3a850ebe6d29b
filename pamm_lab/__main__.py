"""``python -m pamm_lab`` = the ``pamm`` command."""

from pamm_lab.cli import main

raise SystemExit(main())
