"""fastcourse tasks: `inv --list` shows them, `inv --help TASK` explains one."""

from invoke import Collection

from . import env, train

ns = Collection()
ns.add_collection(Collection.from_module(env))
ns.add_collection(Collection("train", train.train))
ns.add_task(train.predict)
