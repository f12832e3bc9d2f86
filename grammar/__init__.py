"""The cgraph grammar (`cgraph.lark`), installed as the package `cgraph.grammar`."""
