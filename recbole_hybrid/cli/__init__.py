"""Every argparse entry point (``recbole-hybrid COMMAND``). Nothing in the package imports ``cli``.
"""
