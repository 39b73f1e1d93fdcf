"""``python -m tssrkit.pslint``: the PowerShell static gate on the command line."""

from tssrkit.pslint import main

raise SystemExit(main())
