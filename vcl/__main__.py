import sys

from vcl.cli import main

sys.exit(main())
