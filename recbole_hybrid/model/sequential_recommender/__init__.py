"""One model class per file: ``<class name lower-cased>.py``, as RecBole's ``get_model`` looks a model up.
"""
