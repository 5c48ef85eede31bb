"""Multipart uploads: started, signed part by part for the browser, listed, completed and
aborted, and the uploads left unfinished in a bucket. Calls go through the client and error
translation of storage/s3.py."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from storage.s3 import StorageError, client, public_client, translated_errors, unless_missing


def start_multipart_upload(bucket: str, key: str, *, content_type: str = "application/gzip") -> str:
    with translated_errors(f"start an upload to {bucket}"):
        answer = client().create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type,
                                                  ServerSideEncryption="AES256")
    return answer["UploadId"]


def list_uploaded_parts(bucket: str, key: str, upload_id: str) -> list[dict]:
    """Parts S3 holds for an unfinished upload: [{"PartNumber", "Size", "ETag"}], in order."""
    parts: list[dict] = []
    marker = 0
    with translated_errors(f"list the uploaded parts in {bucket}"):
        while True:
            answer = client().list_parts(Bucket=bucket, Key=key, UploadId=upload_id,
                                         PartNumberMarker=marker)
            parts.extend({"PartNumber": p["PartNumber"], "Size": p["Size"], "ETag": p["ETag"]}
                         for p in answer.get("Parts", []))
            if not answer.get("IsTruncated"):
                return parts
            marker = answer["NextPartNumberMarker"]


def presign_upload_part(bucket: str, key: str, upload_id: str, part_number: int, *,
                        content_length: int, expires_in: int) -> str:
    """A PUT URL for one part whose signature covers the part's length (`content-length` in
    X-Amz-SignedHeaders): the server itself refuses a body of any other length
    (SignatureDoesNotMatch), so a part can never be larger than the part it was signed for.
    SeaweedFS and MinIO both check a signed content-length against the request's own."""
    with translated_errors("sign an upload part"):
        url = public_client().generate_presigned_url(
            "upload_part", ExpiresIn=expires_in,
            Params={"Bucket": bucket, "Key": key, "UploadId": upload_id,
                    "PartNumber": part_number, "ContentLength": content_length})
    if "content-length" not in signed_headers(url):
        raise StorageError("the part URL was signed without its length; refusing to hand it out",
                           code="UnsignedLength")
    return url


def signed_headers(url: str) -> list[str]:
    """The headers a presigned URL's signature covers."""
    query = parse_qs(urlsplit(url).query)
    return query.get("X-Amz-SignedHeaders", [""])[0].split(";")


def complete_multipart_upload(bucket: str, key: str, upload_id: str, parts: list[dict]) -> None:
    with translated_errors(f"complete an upload to {bucket}"):
        client().complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]}
                                       for p in parts]})


def abort_multipart_upload(bucket: str, key: str, upload_id: str) -> None:
    """Abort an upload; one already gone is fine."""
    unless_missing("abort an upload", lambda: client().abort_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id))


def list_unfinished_uploads(bucket: str) -> list[dict]:
    """[{"Key", "UploadId", "Initiated"}] for every multipart upload not completed or aborted."""
    uploads: list[dict] = []
    params: dict = {"Bucket": bucket}
    with translated_errors(f"list unfinished uploads in {bucket}"):
        while True:
            answer = client().list_multipart_uploads(**params)
            uploads.extend(answer.get("Uploads", []))
            if not answer.get("IsTruncated"):
                return uploads
            params.update(KeyMarker=answer["NextKeyMarker"],
                          UploadIdMarker=answer["NextUploadIdMarker"])
