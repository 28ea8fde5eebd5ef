"""`python -m fastcourse.train --key value ...`: what `accelerate launch` runs in each process (inv train --procs N)."""

from .distributed import main

main()
