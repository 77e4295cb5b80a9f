"""Files tfpin writes for a project: its CI workflows (ci_github.py, ci_gitlab.py, yamltext.py; source.py says how
the jobs install tfpin), tox.ini (toxini.py), and a starter tfpin.toml (init.py, asking pytest what it collects:
collection.py, needs.py; guess.py only when no cell can be built)."""
