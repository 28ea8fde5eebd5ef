"""fastcourse tasks: `inv --list` shows them, `inv --help TASK` explains one."""

from invoke import Collection

from . import app, bench, data, deploy, docker, env, nb, setup, train

ns = Collection()
ns.add_collection(Collection.from_module(env))
ns.add_collection(Collection.from_module(data))
ns.add_collection(Collection("train", train.train))
ns.add_collection(Collection.from_module(app))
ns.add_collection(Collection.from_module(deploy))
ns.add_collection(Collection.from_module(nb))
ns.add_collection(Collection.from_module(docker))
ns.add_collection(Collection.from_module(setup))
ns.add_task(train.predict)
ns.add_task(bench.bench)
