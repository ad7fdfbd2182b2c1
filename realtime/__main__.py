"""`python -m realtime`: the same command as `skelcam` (for environments without the script)."""

import sys

from realtime.cli import main

sys.exit(main())
