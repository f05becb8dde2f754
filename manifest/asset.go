package manifest

// Asset is one content-hashed file of a release, as the hash stage
// records it in the release's "hashes" document: hashassets produces it,
// the store keeps it, and api, carry and releasectl read it. It lives here,
// in a package with no heavy dependencies, so that they share one
// definition without linking the hashing code.
type Asset struct {
	// Logical is the original path, relative to the site root.
	Logical string `json:"logical"`
	// Hashed is the content-hashed path that references now name.
	Hashed string `json:"hashed"`
	// SHA256 is the lowercase hex sha256 of the file's bytes.
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Integrity is the Subresource Integrity value of the file
	// ("sha256-<base64>"), usable in integrity="...".
	Integrity string `json:"integrity"`
}
