"""Models and the layers they share: ``layers`` (a(L) policies and the fusion module), ``graph`` (the item
co-occurrence graph), ``loss`` (chunked CE), ``fast_layers`` (evaluation kernels), ``sequential_recommender/`` (one model
class per file, named as RecBole's ``get_model`` looks it up).
"""
