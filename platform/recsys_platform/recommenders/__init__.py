"""Recommender library shared by training and serving.

Modules:
    data: interaction logs, id <-> index maps, the CSR user x item matrix and the
        Microsoft Recommenders stratified split.
    metrics: top-k ranking metrics (MAP, nDCG, precision, recall, coverage).
    base: the ``Recommender`` protocol and the shared top-k helper.
    generators: the candidate generators as plug-ins (ease, als, item_knn, content,
        popularity; one file each, a registry, a discriminated config union).
    hybrid: ``HybridRecommender`` (the model the platform trains and serves), ``ScoredItem``.
    config: ``HybridConfig`` / ``RankerConfig`` (all hyper-parameters).
    model_state, scoring, retrieval, ranker: the hybrid's fitted arrays, request-time
        candidate generation and features, FAISS retrieval, the LightGBM ranker and tuning.
    catalog_frame: item metadata frame; artifact: save_model / load_model;
    evaluation: temporal_split / evaluate_model; exceptions: the hybrid's errors.
"""
