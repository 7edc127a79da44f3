"""Theory against trained models, the paper's figures and the report.

Empty until its issue is done; nothing here pretends to work yet.
"""
