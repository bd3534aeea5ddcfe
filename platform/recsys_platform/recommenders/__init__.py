"""Recommender library shared by training and serving.

Modules:
    data: interaction logs, id <-> index maps, the CSR user x item matrix and the
        Microsoft Recommenders stratified split.
    metrics: top-k ranking metrics (MAP, nDCG, precision, recall, coverage).
    base: the ``Recommender`` protocol and the shared top-k helper.
    popularity, item_knn, als, ease, content (TF-IDF): one recipe each.
"""
