"""The lab: disposable real-dockerd sandboxes (sandbox, reaper) and `remediator demo --daemon` (daemon, client).

Role: the demo's, the tests' and the benchmarks' sandbox, apart from the product core. Only remediator.cli
(the `demo` command) imports it (.importlinter); it imports the product, never the reverse.
"""
