"""The ``pamm`` command line: the one place allowed to import all three layers.

``pamm`` (model, training, data) ← ``analysis`` (statistics) ← ``app`` (dashboard);
each command module is imported only when its command runs.
"""
