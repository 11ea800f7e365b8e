"""The ledger's public API (ledger/api.py), under /api/v1/."""

from django.urls import path

from ledger import api

urlpatterns = [
    path("ledger/tree-heads/<int:size>", api.TreeHeadApi.as_view(), name="api-ledger-tree-head"),
    path("ledger/consistency", api.ConsistencyApi.as_view(), name="api-ledger-consistency"),
]
