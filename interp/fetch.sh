#!/usr/bin/env bash
# interp/fetch.sh - produce a prepared, patched CPython 3.11.2 source tree in the cache.
#
#   interp/fetch.sh                      print the tree's path as the last line of output
#   interp/fetch.sh --no-pxkit-patches   the same tree without pxkit's patches (Debian's
#                                        series and fix-ups only; its own key); also
#                                        PX_PXKIT_PATCHES=0
#
# Source of the tarballs, in order of preference:
#   1. $PX_CACHE/src/dist/ already holds the pinned tarballs (offline re-runs);
#   2. PX_CPYTHON_TARBALL=/path/orig.tar.xz [PX_DEBIAN_TARBALL=/path/debian.tar.xz];
#   3. apt-get source --download-only python3.11=<pinned Debian version> (adds a deb-src entry
#      to apt's sources if none serves python3.11, then runs apt-get update).
#
# The upstream .orig tarball must match the sha256 pinned in interp/source.lock (set
# PX_ALLOW_UNPINNED=1 to accept another one; the cache key changes with it). The tree is
# the orig tarball + Debian's patch series minus interp/debian-patches.skip + pxkit's
# interp/patches/NNNN-*.patch, keyed by the sha256 of each of the three.
set -euo pipefail
# shellcheck source=interp/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

WITH_PXKIT_PATCHES="${PX_PXKIT_PATCHES:-1}"
case "${1:-}" in
    "") ;;
    --no-pxkit-patches) WITH_PXKIT_PATCHES=0 ;;
    *) px_die "usage: interp/fetch.sh [--no-pxkit-patches]" ;;
esac
[[ "$WITH_PXKIT_PATCHES" == 0 || "$WITH_PXKIT_PATCHES" == 1 ]] \
    || px_die "PX_PXKIT_PATCHES=$WITH_PXKIT_PATCHES: 0 or 1"

# pxkit's patches for this tree: all of them, or none with --no-pxkit-patches.
tree_pxkit_patches() {
    [[ "$WITH_PXKIT_PATCHES" == 0 ]] || px_pxkit_patches
}

DIST="$PX_CACHE/src/dist"
TREES="$PX_CACHE/src/trees"
PKG="$(px_lock_get package)"
DEB_VERSION="${PX_DEBIAN_VERSION:-$(px_lock_get debian_version)}"
ORIG_NAME="$(px_lock_get orig_tarball)"
ORIG_SHA_PIN="$(px_lock_get orig_sha256)"
DEB_NAME="${PKG}_${DEB_VERSION}.debian.tar.xz"
DEB_SHA_PIN="$(px_lock_get debian_sha256)"
[[ "$DEB_VERSION" == "$(px_lock_get debian_version)" ]] || DEB_SHA_PIN=""

# --- apt: deb-src entry -------------------------------------------------------------------

APT_ETC="${PX_APT_ETC:-/etc/apt}" # overridable only to test the mirroring below
APT_SRC_FILE="$APT_ETC/sources.list.d/pxkit-src.sources"

apt_has_source_pkg() {
    # (no "| grep -q": with pipefail, grep's early exit would fail the pipeline via SIGPIPE)
    [[ "$(apt-cache showsrc "$PKG" 2>/dev/null | grep -c "^Package: $PKG\$")" != 0 ]]
}

# Print deb822 "Types: deb-src" stanzas mirroring every enabled "deb" entry (one-line or
# deb822 format) whose suite is bookworm, bookworm-updates or bookworm-security.
mirror_deb_entries_as_deb_src() {
    local f
    for f in "$APT_ETC/sources.list" "$APT_ETC"/sources.list.d/*.list; do
        [[ -f "$f" ]] || continue
        awk '
            /^[[:space:]]*deb[[:space:]]/ {
                signed = ""; i = 2
                if ($2 ~ /^\[/) {
                    for (; i <= NF; i++) {
                        if ($i ~ /signed-by=/) { s = $i; sub(/.*signed-by=/, "", s); sub(/\]$/, "", s); signed = s }
                        if ($i ~ /\]$/) { i++; break }
                    }
                }
                uri = $i; suite = $(i + 1); comps = ""
                for (j = i + 2; j <= NF; j++) comps = comps (comps == "" ? "" : " ") $j
                if (suite !~ /^bookworm(-updates|-security|\/updates)?$/) next
                printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\n", uri, suite, comps
                if (signed != "") printf "Signed-By: %s\n", signed
                printf "\n"
            }' "$f"
    done
    for f in "$APT_ETC"/sources.list.d/*.sources; do
        [[ -f "$f" && "$f" != "$APT_SRC_FILE" ]] || continue
        awk '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && enabled != "no" && uris != "") {
                    n = split(suites, s, " "); keep = ""
                    for (k = 1; k <= n; k++)
                        if (s[k] ~ /^bookworm(-updates|-security)?$/) keep = keep (keep == "" ? "" : " ") s[k]
                    if (keep != "") {
                        printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\n", uris, keep, comps
                        if (signed != "") printf "Signed-By: %s\n", signed
                        printf "\n"
                    }
                }
                types = uris = suites = comps = signed = enabled = ""
            }
            /^[[:space:]]*#/ { next }
            /^[[:space:]]*$/ { flush(); next }
            {
                key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, ""); val = $0
                if (key == "types") types = val
                else if (key == "uris") uris = val
                else if (key == "suites") suites = val
                else if (key == "components") comps = val
                else if (key == "signed-by") signed = val
                else if (key == "enabled") enabled = tolower(val)
            }
            END { flush() }' "$f"
    done
}

ensure_deb_src() {
    apt_has_source_pkg && return 0
    if [[ ! -f "$APT_SRC_FILE" ]]; then
        [[ $(id -u) -eq 0 ]] || px_die "no deb-src entry serves $PKG and not root: add one, or set PX_CPYTHON_TARBALL"
        local stanzas
        stanzas="$(mirror_deb_entries_as_deb_src)"
        [[ -n "$stanzas" ]] || px_die "found no bookworm 'deb' entry in apt's sources to mirror as deb-src"
        px_log "adding $APT_SRC_FILE (deb-src mirroring the existing bookworm entries)"
        { printf '# Added by pxkit interp/fetch.sh: source packages for apt-get source %s.\n' "$PKG"
          printf '%s\n' "$stanzas"; } >"$APT_SRC_FILE"
    fi
    px_log "apt-get update"
    apt-get update -q >&2
    apt_has_source_pkg || px_die "apt still knows no source package $PKG (see $APT_SRC_FILE)"
}

# --- obtaining the tarballs ---------------------------------------------------------------

# Copy the tarballs named by PX_CPYTHON_TARBALL / PX_DEBIAN_TARBALL into $DIST.
take_local_tarballs() {
    [[ -f "$PX_CPYTHON_TARBALL" ]] || px_die "PX_CPYTHON_TARBALL=$PX_CPYTHON_TARBALL: no such file"
    cp -f "$PX_CPYTHON_TARBALL" "$DIST/$ORIG_NAME"
    if [[ -n "${PX_DEBIAN_TARBALL:-}" ]]; then
        [[ -f "$PX_DEBIAN_TARBALL" ]] || px_die "PX_DEBIAN_TARBALL=$PX_DEBIAN_TARBALL: no such file"
        DEB_NAME="$(basename "$PX_DEBIAN_TARBALL")"
        cp -f "$PX_DEBIAN_TARBALL" "$DIST/$DEB_NAME"
        DEB_VERSION="$(sed -n "s/^${PKG}_\(.*\)\.debian\.tar\.[a-z0-9]*\$/\1/p" <<<"$DEB_NAME")"
        DEB_VERSION="${DEB_VERSION:-unknown}"
        [[ "$DEB_VERSION" == "$(px_lock_get debian_version)" ]] || DEB_SHA_PIN=""
    else
        px_log "warning: no PX_DEBIAN_TARBALL: building plain upstream 3.11.2 WITHOUT Debian's security fixes"
        DEB_NAME="" DEB_VERSION=none
    fi
}

# Download with apt-get source: the pinned revision first, then any other revision the
# Sources index lists, newest first (a listed revision can still be missing from the
# mirror: bookworm-security's +deb12u9 answered 404 here when this was written).
apt_download() {
    ensure_deb_src
    local served version
    served="$(apt-cache showsrc "$PKG" | sed -n 's/^Version: //p' | sort -rV | uniq)"
    for version in "$DEB_VERSION" $(grep -vxF "$DEB_VERSION" <<<"$served"); do
        grep -qxF "$version" <<<"$served" || continue
        px_log "apt-get source --download-only $PKG=$version"
        # apt checks the files against the .dsc, whose checksums come from the signed index.
        if (cd "$DIST" && apt-get source -q --download-only "$PKG=$version" >&2); then
            if [[ "$version" != "$DEB_VERSION" ]]; then
                px_log "warning: pinned $PKG $DEB_VERSION could not be fetched; using $version"
                px_log "warning: review it, then pin it in interp/source.lock (debian_version, debian_sha256)"
                DEB_VERSION="$version" DEB_NAME="${PKG}_${version}.debian.tar.xz" DEB_SHA_PIN=""
            fi
            return 0
        fi
    done
    px_die "no revision of $PKG could be downloaded (listed: $(tr '\n' ' ' <<<"$served"))"
}

obtain_tarballs() {
    mkdir -p "$DIST"
    if [[ -n "${PX_CPYTHON_TARBALL:-}" ]]; then
        take_local_tarballs
    elif [[ -f "$DIST/$ORIG_NAME" && -f "$DIST/$DEB_NAME" ]] &&
        [[ "$(px_sha256_file "$DIST/$ORIG_NAME")" == "$ORIG_SHA_PIN" ]]; then
        px_log "using cached tarballs in $DIST"
    else
        rm -f "$DIST/$ORIG_NAME" "$DIST/$DEB_NAME" # absent, or not what the pin says
        apt_download
    fi
}

verify_tarballs() {
    ORIG_SHA="$(px_sha256_file "$DIST/$ORIG_NAME")"
    if [[ "$ORIG_SHA" != "$ORIG_SHA_PIN" ]]; then
        if [[ "${PX_ALLOW_UNPINNED:-0}" == 1 ]]; then
            px_log "warning: $ORIG_NAME sha256 $ORIG_SHA is not the pinned $ORIG_SHA_PIN (PX_ALLOW_UNPINNED=1)"
        else
            px_die "$ORIG_NAME sha256 $ORIG_SHA != pinned $ORIG_SHA_PIN (set PX_ALLOW_UNPINNED=1 to accept)"
        fi
    fi
    if [[ -n "$DEB_NAME" ]]; then
        local deb_sha
        deb_sha="$(px_sha256_file "$DIST/$DEB_NAME")"
        if [[ -n "$DEB_SHA_PIN" && "$deb_sha" != "$DEB_SHA_PIN" ]]; then
            px_die "$DEB_NAME sha256 $deb_sha != pinned $DEB_SHA_PIN"
        fi
    fi
}

# --- patch series -------------------------------------------------------------------------

SKIP_FILE="$PX_INTERP_DIR/debian-patches.skip"

# interp/debian-fixups/NNNN-*.patch: pxkit's small corrections that make Debian's patches
# build in an upstream-layout build, applied right after Debian's series.
debian_fixups() {
    local f
    for f in "$PX_INTERP_DIR"/debian-fixups/[0-9][0-9][0-9][0-9]-*.patch; do
        [[ -e "$f" ]] && printf '%s\n' "$f"
    done
    return 0
}

is_skipped() {
    awk -v name="$1" '{ sub(/#.*/, "") } $1 == name { found = 1 } END { exit !found }' "$SKIP_FILE"
}

# Fill DEB_APPLY (patch names, in series order), DEB_SKIPPED and DEB_PATCHES_SHA from the
# debian/ directory unpacked in $1.
read_debian_series() {
    local debdir="$1" name rest
    DEB_APPLY=() DEB_SKIPPED=()
    if [[ -z "$DEB_NAME" ]]; then
        DEB_PATCHES_SHA="$(printf '' | px_sha256_stdin)"
        return 0
    fi
    [[ -f "$debdir/patches/series" ]] || px_die "$DEB_NAME has no debian/patches/series"
    while read -r name rest; do
        [[ -z "$name" || "$name" == \#* ]] && continue
        [[ -z "$rest" || "$rest" == "-p1" ]] || px_die "series entry '$name $rest': only -p1 is handled"
        [[ -f "$debdir/patches/$name" ]] || px_die "series names missing patch $name"
        if is_skipped "$name"; then DEB_SKIPPED+=("$name"); else DEB_APPLY+=("$name"); fi
    done <"$debdir/patches/series"
    # Every skip entry must still exist, so a stale skip list is noticed.
    while read -r name _; do
        [[ -z "$name" || "$name" == \#* ]] && continue
        [[ " ${DEB_SKIPPED[*]} " == *" $name "* ]] \
            || px_log "warning: debian-patches.skip names $name, which the series does not have"
    done <"$SKIP_FILE"
    # The fix-ups belong to the Debian part of the key: they exist only because of it.
    DEB_PATCHES_SHA="$({ (cd "$debdir/patches" && cat "${DEB_APPLY[@]}"); debian_fixups | xargs -r cat; } \
        | px_sha256_stdin)"
}

apply_patch() { # tree patch-file label
    if ! patch -d "$1" -p1 --forward --batch --fuzz=0 --no-backup-if-mismatch --quiet <"$2" >&2; then
        px_die "patch $3 does not apply"
    fi
}

prepare_tree() {
    local scratch="$1" dest="$2" stamp="$3"
    local tree="$scratch/tree" name f
    mkdir -p "$tree"
    px_log "unpacking $ORIG_NAME"
    tar -xf "$DIST/$ORIG_NAME" -C "$tree" --strip-components=1
    if [[ -n "$DEB_NAME" ]]; then
        tar -xf "$DIST/$DEB_NAME" -C "$tree"
        for name in "${DEB_APPLY[@]}"; do
            apply_patch "$tree" "$tree/debian/patches/$name" "debian/$name"
        done
        px_log "applied ${#DEB_APPLY[@]} Debian patches, skipped ${#DEB_SKIPPED[@]} (interp/debian-patches.skip)"
        while read -r f; do
            [[ -n "$f" ]] || continue
            apply_patch "$tree" "$f" "interp/debian-fixups/$(basename "$f")"
            px_log "applied Debian fix-up $(basename "$f")"
        done < <(debian_fixups)
    fi
    while read -r f; do
        [[ -n "$f" ]] || continue
        apply_patch "$tree" "$f" "interp/patches/$(basename "$f")"
        px_log "applied pxkit patch $(basename "$f")"
    done < <(tree_pxkit_patches)
    {
        printf 'Debian patches applied (%s):\n' "${#DEB_APPLY[@]}"
        printf '  %s\n' "${DEB_APPLY[@]}"
        printf 'Debian patches skipped (%s):\n' "${#DEB_SKIPPED[@]}"
        printf '  %s\n' "${DEB_SKIPPED[@]}"
        printf 'Debian fix-ups (interp/debian-fixups):\n'
        [[ -z "$DEB_NAME" ]] || debian_fixups | sed 's|.*/|  |'
        if [[ "$WITH_PXKIT_PATCHES" == 0 ]]; then
            printf 'pxkit patches: none (--no-pxkit-patches)\n'
        else
            printf 'pxkit patches:\n'
            px_pxkit_patches | sed 's|.*/|  |'
        fi
    } >"$tree/.pxkit-patches"
    printf '%s' "$stamp" >"$tree/.pxkit-source-stamp"
    chmod -R a-w "$tree"
    mv "$tree" "$dest"
}

main() {
    obtain_tarballs
    verify_tarballs

    # global: the EXIT trap runs after main has returned
    scratch="$(mktemp -d "$PX_CACHE/src/.scratch.XXXXXX")"
    trap 'chmod -R u+w "$scratch" 2>/dev/null; rm -rf "$scratch"' EXIT
    if [[ -n "$DEB_NAME" ]]; then
        mkdir -p "$scratch/deb"
        tar -xf "$DIST/$DEB_NAME" -C "$scratch/deb"
    fi
    read_debian_series "$scratch/deb/debian"

    local pxkit_sha stamp key dest
    # "none" is not a digest, so a tree without pxkit's patches never shares a key with one
    # whose series happens to be empty; and it does not move when the series changes.
    pxkit_sha=none
    [[ "$WITH_PXKIT_PATCHES" == 0 ]] || pxkit_sha="$(px_pxkit_patches_hash)"
    stamp="$(printf 'pipeline %s\norig %s %s\ndebian %s %s\ndebian-patches %s\npxkit-patches %s\n' \
        "$PX_PIPELINE_VERSION" "$ORIG_NAME" "$ORIG_SHA" "${DEB_NAME:-none}" "${DEB_VERSION}" \
        "$DEB_PATCHES_SHA" "$pxkit_sha")"
    key="$(px_short "$(printf '%s' "$stamp" | px_sha256_stdin)")"
    dest="$TREES/$key"
    mkdir -p "$TREES"
    if [[ -f "$dest/.pxkit-source-stamp" && "$(cat "$dest/.pxkit-source-stamp")" == "$stamp" ]]; then
        px_log "source tree $key is prepared already"
    else
        if [[ -e "$dest" ]]; then
            px_log "source tree $key has no matching stamp: preparing it again"
            chmod -R u+w "$dest" && rm -rf "$dest"
        fi
        prepare_tree "$scratch" "$dest" "$stamp"
        px_log "prepared source tree $key"
    fi
    printf '%s\n' "$dest"
}

mkdir -p "$PX_CACHE/src"
px_with_lock "$PX_CACHE/src/.lock" main
