// Command imagepack assembles container images from files on disk and writes each one as an OCI
// image-layout tar archive that `ctr images import` (and any OCI tool) reads, without a Docker daemon.
//
// It reads a JSON spec (see ../images.json, ../../conformance/images.json): named shared layers, and
// images made of layers plus an image config. Images given the same file go into one archive, which
// holds each shared blob once. Everything is deterministic: entries sorted by path, one fixed mtime,
// numeric root ownership unless a spec entry says otherwise, gzip through Go's compress/gzip at a fixed
// level. The same inputs give byte-identical layers, manifests and archives, so a shared layer has one
// digest in every image and containerd stores it once.
//
// Usage: imagepack -spec images.json -from DIR -out DIR -epoch SECONDS [-compress] [-info FILE]
//
//	imagepack -spec images.json -list    (prints each image's reference)
//
// ${NAME} in the spec is replaced from the environment (an unset NAME is an error).
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Spec is the whole images.json file.
type Spec struct {
	Layers map[string]LayerSpec `json:"layers"` // shared layers, referred to by name from images
	// Another spec (a path relative to this one) whose shared layers this one's images may name too, as
	// if defined here (its images are not built): the same layer, byte for byte, in both specs' images.
	LayersFrom string      `json:"layersFrom,omitempty"`
	Images     []ImageSpec `json:"images"`
}

// LayerSpec describes one layer: either a directory tree copied as-is (Rootfs) or a list of entries.
type LayerSpec struct {
	Comment string      `json:"comment,omitempty"`
	Rootfs  string      `json:"rootfs,omitempty"` // directory under -from whose whole tree becomes the layer
	Entries []EntrySpec `json:"entries,omitempty"`
}

// EntrySpec is one path in a layer. Exactly one of Src, Text, Symlink or Dir says what it is.
type EntrySpec struct {
	Path    string   `json:"path"`              // path inside the image, without a leading slash
	Src     string   `json:"src,omitempty"`     // regular file copied from -from/Src
	Text    string   `json:"text,omitempty"`    // regular file with this content
	Symlink string   `json:"symlink,omitempty"` // symlink target
	Dir     bool     `json:"dir,omitempty"`     // directory
	Mode    string   `json:"mode,omitempty"`    // octal permission bits; defaults: 0644 file, 0755 dir
	UID     int      `json:"uid,omitempty"`     // numeric owner (default root)
	GID     int      `json:"gid,omitempty"`     // numeric group (default root)
	Caps    []string `json:"caps,omitempty"`    // file capabilities, permitted+effective, like `setcap CAPS=+ep`
}

// ImageSpec is one image archive.
type ImageSpec struct {
	Ref    string            `json:"ref"`    // full reference, e.g. registry.k8s.io/pause:3.10.2
	File   string            `json:"file"`   // archive name under -out (images naming the same file share it)
	Layers []json.RawMessage `json:"layers"` // each a shared layer's name (string) or an inline LayerSpec
	Config ConfigSpec        `json:"config"`
}

// ConfigSpec is the part of the OCI image config that the spec sets.
type ConfigSpec struct {
	Env          []string `json:"env,omitempty"`
	Entrypoint   []string `json:"entrypoint,omitempty"`
	Cmd          []string `json:"cmd,omitempty"`
	User         string   `json:"user,omitempty"`
	WorkingDir   string   `json:"workingDir,omitempty"`
	ExposedPorts []string `json:"exposedPorts,omitempty"`
	StopSignal   string   `json:"stopSignal,omitempty"`
}

// ImageInfo is what -info records for each archive written.
type ImageInfo struct {
	Ref            string      `json:"ref"`
	File           string      `json:"file"`
	ArchiveBytes   int64       `json:"archiveBytes"`
	ManifestDigest string      `json:"manifestDigest"`
	Layers         []LayerInfo `json:"layers"`
}

// LayerInfo describes one layer of an ImageInfo.
type LayerInfo struct {
	Name              string `json:"name"` // shared layer name, or "own" for an inline layer
	Digest            string `json:"digest"`
	Bytes             int64  `json:"bytes"`             // as stored (compressed or not)
	UncompressedBytes int64  `json:"uncompressedBytes"` // tar size
	MediaType         string `json:"mediaType"`
}

// capabilityBits maps the capability names the spec may use to their numbers (linux/capability.h).
var capabilityBits = map[string]uint{
	"cap_net_bind_service": 10,
	"cap_net_admin":        12,
	"cap_net_raw":          13,
}

func main() {
	specPath := flag.String("spec", "", "image spec (JSON)")
	fromDir := flag.String("from", "", "directory that src and rootfs paths are relative to")
	outDir := flag.String("out", "", "directory to write the image archives to")
	epoch := flag.Int64("epoch", -1, "seconds since 1970 used for every mtime and the images' created time")
	compress := flag.Bool("compress", false, "gzip the layers (otherwise they are stored as plain tar)")
	infoPath := flag.String("info", "", "write a JSON summary of the archives to this file")
	list := flag.Bool("list", false, "only print the reference of every image in the spec")
	flag.Parse()
	if *list && *specPath != "" {
		spec, err := readSpec(*specPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "imagepack:", err)
			os.Exit(1)
		}
		for _, im := range spec.Images {
			fmt.Println(im.Ref)
		}
		return
	}
	if *specPath == "" || *fromDir == "" || *outDir == "" || *epoch < 0 {
		fmt.Fprintln(os.Stderr, "usage: imagepack -spec FILE -from DIR -out DIR -epoch SECONDS [-compress] [-info FILE]")
		os.Exit(2)
	}
	if err := run(*specPath, *fromDir, *outDir, time.Unix(*epoch, 0).UTC(), *compress, *infoPath); err != nil {
		fmt.Fprintln(os.Stderr, "imagepack:", err)
		os.Exit(1)
	}
}

func run(specPath, fromDir, outDir string, mtime time.Time, compress bool, infoPath string) error {
	spec, err := readSpec(specPath)
	if err != nil {
		return err
	}
	b := &builder{from: fromDir, mtime: mtime, compress: compress, shared: map[string]v1.Layer{}}
	// The archives in the order the spec first names them, each with its images in spec order.
	var files []string
	byFile := map[string][]ImageSpec{}
	for _, im := range spec.Images {
		if _, seen := byFile[im.File]; !seen {
			files = append(files, im.File)
		}
		byFile[im.File] = append(byFile[im.File], im)
	}
	var infos []ImageInfo
	for _, file := range files {
		started := time.Now()
		var images []refImage
		var fileInfos []ImageInfo
		for _, im := range byFile[file] {
			img, info, err := b.buildImage(spec, im)
			if err != nil {
				return fmt.Errorf("%s: %w", im.Ref, err)
			}
			images = append(images, refImage{ref: im.Ref, image: img})
			fileInfos = append(fileInfos, info)
		}
		size, err := writeArchive(outDir, file, images, b.mtime)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		for i := range fileInfos {
			fileInfos[i].ArchiveBytes = size
			fmt.Printf("imagepack: %-55s %s %6.1f MiB in %.1fs\n", fileInfos[i].Ref, file,
				float64(size)/(1<<20), time.Since(started).Seconds())
		}
		infos = append(infos, fileInfos...)
	}
	if infoPath != "" {
		data, err := json.MarshalIndent(infos, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(infoPath, append(data, '\n'), 0o644)
	}
	return nil
}

// readSpec parses the spec after replacing ${NAME} from the environment.
func readSpec(specPath string) (*Spec, error) {
	raw, err := os.ReadFile(specPath)
	if err != nil {
		return nil, err
	}
	var missing []string
	expanded := os.Expand(string(raw), func(name string) string {
		value, ok := os.LookupEnv(name)
		if !ok {
			missing = append(missing, name)
		}
		return value
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: environment variables not set: %s", specPath, strings.Join(missing, ", "))
	}
	var spec Spec
	dec := json.NewDecoder(strings.NewReader(expanded))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("%s: %w", specPath, err)
	}
	if spec.LayersFrom != "" {
		other, err := readSpec(filepath.Join(filepath.Dir(specPath), spec.LayersFrom))
		if err != nil {
			return nil, err
		}
		if spec.Layers == nil {
			spec.Layers = map[string]LayerSpec{}
		}
		for name, layer := range other.Layers {
			if _, both := spec.Layers[name]; both {
				return nil, fmt.Errorf("%s: layer %q is defined here and in %s", specPath, name, spec.LayersFrom)
			}
			spec.Layers[name] = layer
		}
	}
	return &spec, nil
}

// builder makes layers and images; shared layers are built once and reused.
type builder struct {
	from     string
	mtime    time.Time
	compress bool
	shared   map[string]v1.Layer
}

// refImage is an image and the reference it is archived under.
type refImage struct {
	ref   string
	image v1.Image
}

// buildImage assembles one image of the spec and describes it (all but the archive's size).
func (b *builder) buildImage(spec *Spec, im ImageSpec) (v1.Image, ImageInfo, error) {
	info := ImageInfo{Ref: im.Ref, File: im.File}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	var adds []mutate.Addendum
	for _, rawLayer := range im.Layers {
		layer, name, err := b.layerFor(spec, rawLayer)
		if err != nil {
			return nil, info, err
		}
		adds = append(adds, mutate.Addendum{
			Layer:   layer,
			History: v1.History{Created: v1.Time{Time: b.mtime}, CreatedBy: "kubeadm-vagrant imagepack: layer " + name},
		})
		li, err := describeLayer(layer, name)
		if err != nil {
			return nil, info, err
		}
		info.Layers = append(info.Layers, li)
	}
	img, err := mutate.Append(img, adds...)
	if err != nil {
		return nil, info, err
	}
	cfgFile, err := img.ConfigFile()
	if err != nil {
		return nil, info, err
	}
	cfgFile = cfgFile.DeepCopy()
	cfgFile.Architecture = "amd64"
	cfgFile.OS = "linux"
	cfgFile.Created = v1.Time{Time: b.mtime}
	cfgFile.Config = v1.Config{
		Env:        im.Config.Env,
		Entrypoint: im.Config.Entrypoint,
		Cmd:        im.Config.Cmd,
		User:       im.Config.User,
		WorkingDir: im.Config.WorkingDir,
		StopSignal: im.Config.StopSignal,
	}
	if len(im.Config.ExposedPorts) > 0 {
		cfgFile.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range im.Config.ExposedPorts {
			cfgFile.Config.ExposedPorts[p] = struct{}{}
		}
	}
	img, err = mutate.ConfigFile(img, cfgFile)
	if err != nil {
		return nil, info, err
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, info, err
	}
	info.ManifestDigest = digest.String()
	return img, info, nil
}

// writeArchive writes the images into one OCI image layout, each named by its reference, packed into one
// deterministic tar at outDir/file; it returns the archive's size.
func writeArchive(outDir, file string, images []refImage, mtime time.Time) (int64, error) {
	scratch, err := os.MkdirTemp(outDir, ".layout-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(scratch)
	lp, err := layout.Write(scratch, empty.Index)
	if err != nil {
		return 0, err
	}
	for _, im := range images {
		annotations := map[string]string{
			"io.containerd.image.name":          im.ref, // what containerd's importer names the image
			"org.opencontainers.image.ref.name": im.ref, // the OCI spec's annotation, for other tools
		}
		if err := lp.AppendImage(im.image, layout.WithAnnotations(annotations),
			layout.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"})); err != nil {
			return 0, err
		}
	}
	archive := filepath.Join(outDir, file)
	if err := tarDirectory(scratch, archive, mtime); err != nil {
		return 0, err
	}
	st, err := os.Stat(archive)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// layerFor returns the layer a spec element names: a shared layer (built on first use) or an inline one.
func (b *builder) layerFor(spec *Spec, raw json.RawMessage) (v1.Layer, string, error) {
	var name string
	if err := json.Unmarshal(raw, &name); err == nil {
		if l, ok := b.shared[name]; ok {
			return l, name, nil
		}
		ls, ok := spec.Layers[name]
		if !ok {
			return nil, "", fmt.Errorf("no shared layer named %q", name)
		}
		l, err := b.buildLayer(ls)
		if err != nil {
			return nil, "", fmt.Errorf("layer %s: %w", name, err)
		}
		b.shared[name] = l
		return l, name, nil
	}
	var ls LayerSpec
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ls); err != nil {
		return nil, "", err
	}
	l, err := b.buildLayer(ls)
	return l, "own", err
}

// buildLayer writes the layer's tar into memory and wraps it as an OCI layer.
func (b *builder) buildLayer(ls LayerSpec) (v1.Layer, error) {
	var entries []entry
	var err error
	switch {
	case ls.Rootfs != "" && len(ls.Entries) > 0:
		return nil, errors.New("a layer has either rootfs or entries, not both")
	case ls.Rootfs != "":
		entries, err = entriesFromTree(filepath.Join(b.from, ls.Rootfs))
	default:
		entries, err = b.entriesFromSpec(ls.Entries)
	}
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := writeLayerTar(&buf, entries, b.mtime); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	if !b.compress {
		return static.NewLayer(data, types.OCIUncompressedLayer), nil
	}
	opener := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	return tarball.LayerFromOpener(opener, tarball.WithCompressionLevel(gzip.BestSpeed),
		tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}

func describeLayer(l v1.Layer, name string) (LayerInfo, error) {
	digest, err := l.Digest()
	if err != nil {
		return LayerInfo{}, err
	}
	size, err := l.Size()
	if err != nil {
		return LayerInfo{}, err
	}
	mt, err := l.MediaType()
	if err != nil {
		return LayerInfo{}, err
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return LayerInfo{}, err
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	if err != nil {
		return LayerInfo{}, err
	}
	return LayerInfo{Name: name, Digest: digest.String(), Bytes: size, UncompressedBytes: n, MediaType: string(mt)}, nil
}

// entry is one tar member before it is written.
type entry struct {
	name     string // path without a leading slash
	typeflag byte
	mode     int64
	uid, gid int
	linkname string
	src      string // file to copy content from (regular files)
	content  []byte // content for regular files without src
	caps     []string
}

func (b *builder) entriesFromSpec(specs []EntrySpec) ([]entry, error) {
	var out []entry
	for _, s := range specs {
		name := strings.TrimPrefix(path.Clean("/"+s.Path), "/")
		if name == "" {
			return nil, fmt.Errorf("entry with empty path")
		}
		e := entry{name: name, uid: s.UID, gid: s.GID, caps: s.Caps}
		kinds := 0
		switch {
		case s.Src != "":
			kinds++
			e.typeflag, e.src, e.mode = tar.TypeReg, filepath.Join(b.from, s.Src), 0o644
			st, err := os.Stat(e.src)
			if err != nil {
				return nil, err
			}
			if !st.Mode().IsRegular() {
				return nil, fmt.Errorf("%s is not a regular file", e.src)
			}
		}
		if s.Text != "" {
			kinds++
			e.typeflag, e.content, e.mode = tar.TypeReg, []byte(s.Text), 0o644
		}
		if s.Symlink != "" {
			kinds++
			e.typeflag, e.linkname, e.mode = tar.TypeSymlink, s.Symlink, 0o777
		}
		if s.Dir {
			kinds++
			e.typeflag, e.mode = tar.TypeDir, 0o755
		}
		if kinds != 1 {
			return nil, fmt.Errorf("%s: give exactly one of src, text, symlink, dir", s.Path)
		}
		if s.Mode != "" {
			m, err := strconv.ParseInt(s.Mode, 8, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: mode %q: %w", s.Path, s.Mode, err)
			}
			e.mode = m
		}
		if len(e.caps) > 0 && e.typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%s: capabilities need a regular file", s.Path)
		}
		out = append(out, e)
	}
	return out, nil
}

// entriesFromTree lists a directory tree as entries: regular files, directories and symlinks with their
// permission bits; owners are not copied (everything is root's, as in a distribution package).
func entriesFromTree(root string) ([]entry, error) {
	var out []entry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := entry{name: filepath.ToSlash(rel), mode: int64(info.Mode().Perm())}
		if info.Mode()&fs.ModeSetuid != 0 {
			e.mode |= 0o4000
		}
		if info.Mode()&fs.ModeSetgid != 0 {
			e.mode |= 0o2000
		}
		if info.Mode()&fs.ModeSticky != 0 {
			e.mode |= 0o1000
		}
		switch {
		case info.Mode().IsRegular():
			e.typeflag, e.src = tar.TypeReg, p
		case info.IsDir():
			e.typeflag = tar.TypeDir
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			e.typeflag, e.linkname = tar.TypeSymlink, target
		default:
			return fmt.Errorf("%s: unsupported file type %s", p, info.Mode().Type())
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// writeLayerTar writes entries sorted by path, adding any missing parent directories (0755, root).
func writeLayerTar(w io.Writer, entries []entry, mtime time.Time) error {
	byName := map[string]entry{}
	for _, e := range entries {
		if _, dup := byName[e.name]; dup {
			return fmt.Errorf("path %s given twice", e.name)
		}
		byName[e.name] = e
	}
	for _, e := range entries {
		for dir := path.Dir(e.name); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if _, ok := byName[dir]; !ok {
				byName[dir] = entry{name: dir, typeflag: tar.TypeDir, mode: 0o755}
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tar.NewWriter(w)
	for _, n := range names {
		e := byName[n]
		hdr := &tar.Header{
			Typeflag: e.typeflag,
			Name:     e.name,
			Linkname: e.linkname,
			Mode:     e.mode,
			Uid:      e.uid,
			Gid:      e.gid,
			ModTime:  mtime,
			Format:   tar.FormatPAX,
		}
		if e.typeflag == tar.TypeDir {
			hdr.Name += "/"
		}
		var content []byte
		if e.typeflag == tar.TypeReg {
			content = e.content
			if e.src != "" {
				data, err := os.ReadFile(e.src)
				if err != nil {
					return err
				}
				content = data
			}
			hdr.Size = int64(len(content))
		}
		if len(e.caps) > 0 {
			xattr, err := fileCapability(e.caps)
			if err != nil {
				return fmt.Errorf("%s: %w", e.name, err)
			}
			hdr.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": string(xattr)}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
		if _, err := tw.Write(content); err != nil {
			return err
		}
	}
	return tw.Close()
}

// fileCapability encodes the security.capability xattr (struct vfs_cap_data, revision 2) that
// `setcap CAPS=+ep FILE` writes: the capabilities permitted, and the effective flag set.
func fileCapability(names []string) ([]byte, error) {
	const revision2, flagEffective = 0x02000000, 0x000001
	var permitted [2]uint32
	for _, n := range names {
		bit, ok := capabilityBits[strings.ToLower(n)]
		if !ok {
			return nil, fmt.Errorf("unknown capability %q", n)
		}
		permitted[bit/32] |= 1 << (bit % 32)
	}
	buf := make([]byte, 20)
	binary.LittleEndian.PutUint32(buf[0:], revision2|flagEffective)
	binary.LittleEndian.PutUint32(buf[4:], permitted[0]) // inheritable words stay zero
	binary.LittleEndian.PutUint32(buf[12:], permitted[1])
	return buf, nil
}

// tarDirectory packs dir (an OCI layout) into a tar at dest: sorted, fixed mtime, root-owned.
func tarDirectory(dir, dest string, mtime time.Time) error {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(dir, p); rel != "." {
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	tmp := dest + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, n := range names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		st, err := os.Lstat(p)
		if err != nil {
			f.Close()
			return err
		}
		hdr := &tar.Header{Name: n, ModTime: mtime, Mode: 0o644, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if st.IsDir() {
			hdr.Name, hdr.Mode, hdr.Typeflag = n+"/", 0o755, tar.TypeDir
		} else {
			hdr.Size = st.Size()
		}
		if err := tw.WriteHeader(hdr); err != nil {
			f.Close()
			return err
		}
		if !st.IsDir() {
			src, err := os.Open(p)
			if err != nil {
				f.Close()
				return err
			}
			_, err = io.Copy(tw, src)
			src.Close()
			if err != nil {
				f.Close()
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dest)
}
