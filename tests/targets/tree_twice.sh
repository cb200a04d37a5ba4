#!/bin/sh
# Runs python on tree_step.py twice (test_tree.py: a shell script whose
# two Python processes are each in the profile of `record -- sh ...`).
here=$(dirname "$0")
python "$here/tree_step.py" 0.5
python "$here/tree_step.py" 0.5
