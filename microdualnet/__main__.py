import sys

from microdualnet.cli import main

sys.exit(main())
