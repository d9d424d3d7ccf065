import sys

from ganedit.cli import main

sys.exit(main())
