"""gcnserve_model: the Python side of gcnserve.

Builds the graph-convolution classifiers of the report (docs/report.md),
defines the one reference preprocessing the C++ server reproduces, and
exports TorchScript files that follow the export contract
(docs/design.md, "The export contract").
"""
