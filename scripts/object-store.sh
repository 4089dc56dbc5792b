# Sourced by backup.sh and restore.sh: copies files to and from the backup store named by a URL.
# s3://bucket/prefix (aws CLI), gs://bucket/prefix (gsutil) or file:///directory.
# shellcheck shell=bash

store_put() { # FILE URL: uploads FILE under the URL prefix, keeping its name
  local file=$1 url=${2%/}
  case $url in
    s3://*) run aws s3 cp "$file" "$url/$(basename "$file")" ;;
    gs://*) run gsutil cp "$file" "$url/$(basename "$file")" ;;
    file://*)
      run mkdir -p "${url#file://}"
      run cp "$file" "${url#file://}/"
      ;;
    *)
      echo "unsupported backup URL '$url' (s3://, gs:// or file://)" >&2
      return 2
      ;;
  esac
}

store_get() { # URL FILE: downloads one object to FILE
  local url=$1 file=$2
  case $url in
    s3://*) aws s3 cp "$url" "$file" ;;
    gs://*) gsutil cp "$url" "$file" ;;
    file://*) cp "${url#file://}" "$file" ;;
    *)
      echo "unsupported backup URL '$url' (s3://, gs:// or file://)" >&2
      return 2
      ;;
  esac
}
