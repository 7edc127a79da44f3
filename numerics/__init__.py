"""Numerical side of persian-rug (torch): operators, data, models, training, symmetry statistics.

Empty until its issue is done; nothing here pretends to work yet.
"""
