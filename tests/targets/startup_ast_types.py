"""Prints whether the ast module's node types exist in this process (the
builtin compile() builds them on its first call; python never does to run
a script), then calls compile() and prints it again (the probe sees them).
Expected under `stackwatch record` and `run`, as under python: "before:
False" then "after compile(): True"."""

import gc


def ast_types_built() -> bool:
    return any(isinstance(ob, type) and ob.__name__ == "AST"
               and ob.__module__ == "ast" for ob in gc.get_objects())


print("before: %s" % ast_types_built())
compile("", "<probe>", "exec")
print("after compile(): %s" % ast_types_built())
