"""The Streamlit layer: router, caches, shared widgets, roles, background jobs and actions.

Imports flow one way: pages/ -> app/ -> core/. Nothing here imports mlflow, xgboost or sklearn.
"""
