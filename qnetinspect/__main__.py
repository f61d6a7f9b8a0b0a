import sys

from qnetinspect.cli import main

sys.exit(main())
