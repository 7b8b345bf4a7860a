import sys

from nodecount_scaler.cli import main

sys.exit(main())
