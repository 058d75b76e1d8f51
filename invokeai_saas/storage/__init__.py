"""File storage on S3: InvokeAI's image, video, style-preset-image and workflow-thumbnail stores, backed by one bucket.

`s3.py` holds the boto3 plumbing (storage URL parsing, the client, `ObjectStore` over one bucket and prefix);
`image_files_s3.py` and `media_files_s3.py` implement InvokeAI's file-storage ABCs on it, with a local
read-through cache for the methods whose contract is a `Path`. The bucket is the source of truth: every pod
can serve every file, and a pod's cache can be wiped at any time.

May import: InvokeAI, boto3. Nothing here knows about tenants: the caller chooses the prefix.
"""
