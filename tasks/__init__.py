"""fastcourse tasks: `inv --list` shows them, `inv --help TASK` explains one."""

from invoke import Collection

from . import env

ns = Collection()
ns.add_collection(Collection.from_module(env))
