"""Compute logs kept in the user's own storage: the run worker writes them, the CLI reads them back.

`stores.open_store(url)` gives a store for a URL of contracts/log_store_protocol.py: `local.py` (standard
library), `s3.py` (boto3: `longshoreman[s3]` in the image), `azure_blob.py` (azure-storage-blob:
`longshoreman[azure]`). `writer.py` buffers a run attempt's lines and writes them in batches.
"""
