#!/usr/bin/env bash
#
# build.sh - build the sample Java applications (an executable jar, a war) with the JDK alone.
#
# Usage:
#   build.sh [--main CLASS] jar SRC_DIR VERSION OUT.jar
#   build.sh war WEBAPP_DIR VERSION OUT.war
#   build.sh samples VERSION OUT_DIR
#
#   jar      compile every *.java under SRC_DIR (javac --release 17 -encoding UTF-8 -Xlint:all
#            -Werror: a warning fails the build) and pack the classes in an executable jar
#   war      pack the folder WEBAPP_DIR (JSP pages, WEB-INF/web.xml, static files) as a war
#   samples  build OUT_DIR/hello-service-VERSION.jar and OUT_DIR/hello-war-VERSION.war from
#            hello-service/src and hello-war/ beside this script
#
#       --main CLASS      the jar's Main-Class (default: the only class that declares
#                         "public static void main"), e.g. org.tssrkit.hello.HelloService
#   -h, --help            print this help
#
# VERSION: ^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$ (e.g. 1.0.0, 2.0.0-rc1). The manifest of each
# artifact holds Implementation-Title and Implementation-Version: the title is the base name of
# SRC_DIR (of its parent folder when SRC_DIR is a "src" folder) or of WEBAPP_DIR; a jar's
# manifest also holds Main-Class, so "java -jar OUT.jar" runs it.
#
# Builds are reproducible: every entry is dated SOURCE_DATE_EPOCH (default 1980-01-01 UTC), so the
# same sources and VERSION give the same bytes, and deploying a rebuilt release changes nothing.
#
# Examples:
#   examples/java/build.sh samples 1.0.0 build/java
#   examples/java/build.sh jar examples/java/hello-service/src 2.0.0 /tmp/hello-service-2.0.0.jar
#   examples/java/build.sh --main Crash jar tests/fixtures/java/crash/src 9.9.9 /tmp/crash.jar
#   examples/java/build.sh war examples/java/hello-war 1.0.0 /tmp/hello-war-1.0.0.war
#
# Exit codes:
#   0  success
#   1  build failure: a JDK tool is missing, the compilation failed, a file could not be written
#   2  usage or validation error: nothing was written
#
# Output: the path of each artifact built on stdout, one a line, in a stable order (the jar
# before the war); narration and compiler messages on stderr.
#
# What it writes: the artifacts only (their folder is created if needed). Each one is built in a
# temporary folder, copied beside its destination under a temporary name, then renamed into
# place: a reader never sees a half-written file, and a failed build leaves the old one intact.
#
# Needs: bash 4.4+, GNU coreutils and findutils, a JDK 17 or later (javac, jar).

set -Eeuo pipefail
export LC_ALL=C

#######################################
# Constants
#######################################
readonly VERSION_RE='^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$'
readonly CLASS_RE='^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*$'
readonly JAVA_RELEASE=17
readonly JDK_HINT="install a JDK, e.g. apt-get install default-jdk-headless"
SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR

#######################################
# Settings (from the command line)
#######################################
COMMAND=""
MAIN_CLASS=""
ARGS=()

#######################################
# Run state
#######################################
TMP_DIR=""
PARTIAL=""               # the temporary copy beside the destination, until it is renamed

#######################################
# Narration and errors
#######################################
usage() {
  sed -n '3,/^# Needs:/{s/^# \{0,1\}//;p}' "$0"
}

log() {
  printf 'build.sh: %s\n' "$*" >&2
}

# Stop with a message. Arguments: exit code, message.
die() {
  local code="$1"
  shift
  printf 'build.sh: error: %s\n' "$*" >&2
  exit "${code}"
}

usage_error() {
  printf 'build.sh: error: %s\n' "$*" >&2
  printf 'Try: %s --help\n' "$0" >&2
  exit 2
}

on_error() {
  local code=$? line="$1" command="$2"
  trap - ERR
  die 1 "line ${line}: '${command}' failed (exit ${code})"
}

cleanup() {
  if [[ -n "${PARTIAL}" && -e "${PARTIAL}" ]]; then
    rm -f -- "${PARTIAL}"
  fi
  if [[ -n "${TMP_DIR}" && -d "${TMP_DIR}" ]]; then
    rm -rf -- "${TMP_DIR}"
  fi
}

#######################################
# Command line
#######################################
need_value() {
  (($2 >= 2)) || usage_error "$1 needs a value"
}

parse_args() {
  while (($#)); do
    case "$1" in
      --main) need_value "$1" $#; MAIN_CLASS="$2"; shift 2 ;;
      -h | --help) usage; exit 0 ;;
      --) shift; ARGS+=("$@"); break ;;
      -*) usage_error "unknown option: $1" ;;
      *) ARGS+=("$1"); shift ;;
    esac
  done
  ((${#ARGS[@]} > 0)) || usage_error "no command: jar, war or samples"
  COMMAND="${ARGS[0]}"
  ARGS=("${ARGS[@]:1}")
  case "${COMMAND}" in
    jar | war) ((${#ARGS[@]} == 3)) || usage_error "usage: build.sh ${COMMAND} DIR VERSION OUT.${COMMAND}" ;;
    samples) ((${#ARGS[@]} == 2)) || usage_error "usage: build.sh samples VERSION OUT_DIR" ;;
    *) usage_error "unknown command: ${COMMAND} (jar, war or samples)" ;;
  esac
  if [[ -n "${MAIN_CLASS}" && "${COMMAND}" != jar ]]; then
    usage_error "--main is for the jar command only"
  fi
}

#######################################
# Validation (exit 2, nothing written)
#######################################
validate_version() {
  [[ "$1" =~ ${VERSION_RE} ]] || usage_error "invalid VERSION '$1': expected ${VERSION_RE}"
}

validate_dir() {
  [[ -d "$1" ]] || usage_error "not a folder: $1"
}

# Arguments: destination path, expected suffix (jar or war).
validate_output() {
  local out="$1" suffix="$2"
  [[ "${out}" == *?."${suffix}" ]] || usage_error "the output must be a .${suffix} file: ${out}"
  [[ ! -d "${out}" ]] || usage_error "the output is a folder: ${out}"
}

# A JDK tool, or exit 1 with what to install.
require_tool() {
  command -v "$1" >/dev/null 2>&1 || die 1 "$1 not found: ${JDK_HINT}"
}

#######################################
# Helpers
#######################################
# The absolute, physical path of a folder.
abs_dir() {
  (cd -- "$1" && pwd -P)
}

# Implementation-Title: the folder's name, or its parent's when the folder is a "src" folder.
title_of() {
  local dir
  dir="$(abs_dir "$1")"
  if [[ "$(basename -- "${dir}")" == src ]]; then
    dir="$(dirname -- "${dir}")"
  fi
  basename -- "${dir}"
}

# The classes whose source declares "public static void main", one a line, sorted.
# Arguments: source folder, then the source files (relative to that folder).
find_main_classes() {
  local src="$1" file package class
  shift
  for file in "$@"; do
    grep -Eq 'public[[:space:]]+static[[:space:]]+void[[:space:]]+main[[:space:]]*\(' "${src}/${file}" || continue
    package="$(sed -nE 's/^[[:space:]]*package[[:space:]]+([A-Za-z0-9_$.]+)[[:space:]]*;.*/\1/p;T;q' "${src}/${file}")"
    class="$(basename -- "${file}" .java)"
    printf '%s\n' "${package:+${package}.}${class}"
  done | sort -u
}

# Puts a built file at its destination atomically: a copy in the destination's folder under a
# temporary name (same file system), then a rename over the destination.
# Arguments: built file, destination.
install_artifact() {
  local built="$1" out="$2" dir
  dir="$(dirname -- "${out}")"
  mkdir -p -- "${dir}" || die 1 "cannot create the folder ${dir}"
  PARTIAL="$(mktemp "${dir}/.$(basename -- "${out}").XXXXXXXX")" || die 1 "cannot write in ${dir}"
  cp -- "${built}" "${PARTIAL}"
  chmod 0644 -- "${PARTIAL}"
  mv -f -T -- "${PARTIAL}" "${out}"
  PARTIAL=""
  printf '%s\n' "${out}"
}

# Writes a manifest file: Manifest-Version, then one "Name: value" line per argument pair.
# Arguments: file, then name value name value ...
write_manifest() {
  local file="$1"
  shift
  mkdir -p -- "$(dirname -- "${file}")"
  printf 'Manifest-Version: 1.0\nCreated-By: tssr-kit examples/java/build.sh\n' >"${file}"
  while (($# >= 2)); do
    printf '%s: %s\n' "$1" "$2" >>"${file}"
    shift 2
  done
}

# Packs a folder (its META-INF/MANIFEST.MF included) into an archive, reproducibly: every entry
# dated SOURCE_DATE_EPOCH (default 1980-01-01, the zip format's first day), in UTC, so that the same
# sources and version give the same bytes (and a deploy of a rebuilt release changes nothing).
# Arguments: folder, archive
pack() {
  local stage="$1" archive="$2"
  find "${stage}" -exec touch -h -d "@${SOURCE_DATE_EPOCH:-315532800}" {} +
  TZ=UTC jar --create --no-manifest --file "${archive}" -C "${stage}" . >&2
}

#######################################
# Builds
#######################################
# Arguments: source folder, version, destination jar.
build_jar() {
  local src="$1" version="$2" out="$3"
  local title work classes sources=() candidates=() main="${MAIN_CLASS}"
  validate_dir "${src}"
  validate_version "${version}"
  validate_output "${out}" jar
  if [[ -n "${main}" && ! "${main}" =~ ${CLASS_RE} ]]; then
    usage_error "invalid --main '${main}': expected a class name such as org.example.Main"
  fi
  # ./dir/File.java: a name that starts with "./" cannot be read as an option.
  mapfile -t sources < <(cd -- "${src}" && find . -type f -name '*.java' | sort)
  ((${#sources[@]} > 0)) || usage_error "no .java file under ${src}"
  require_tool javac
  require_tool jar
  title="$(title_of "${src}")"

  work="$(mktemp -d "${TMP_DIR}/jar.XXXXXXXX")"
  classes="${work}/classes"
  mkdir -- "${classes}"
  log "compiling ${#sources[@]} source file(s) of ${title} ${version} (Java ${JAVA_RELEASE})"
  # -cp: the classes being built only (not the current folder, nor $CLASSPATH); -proc:none: no
  # annotation processors. Compiler messages go to stderr, stdout stays for the artifact paths.
  if ! (cd -- "${src}" && javac --release "${JAVA_RELEASE}" -encoding UTF-8 -Xlint:all -Werror \
    -proc:none -cp "${classes}" -d "${classes}" "${sources[@]}") >&2; then
    die 1 "the compilation of ${src} failed"
  fi

  if [[ -z "${main}" ]]; then
    mapfile -t candidates < <(find_main_classes "${src}" "${sources[@]}")
    case "${#candidates[@]}" in
      0) usage_error "no class declares 'public static void main' under ${src}: give --main CLASS" ;;
      1) main="${candidates[0]}" ;;
      *) usage_error "several main classes under ${src} (${candidates[*]}): give --main CLASS" ;;
    esac
  fi
  [[ -f "${classes}/${main//.//}.class" ]] || usage_error "--main ${main}: no such class was compiled from ${src}"

  write_manifest "${classes}/META-INF/MANIFEST.MF" Main-Class "${main}" \
    Implementation-Title "${title}" Implementation-Version "${version}"
  log "packing ${title} ${version} (Main-Class: ${main})"
  pack "${classes}" "${work}/out.jar" || die 1 "jar failed for ${src}"
  install_artifact "${work}/out.jar" "${out}"
}

# Arguments: webapp folder, version, destination war.
build_war() {
  local webapp="$1" version="$2" out="$3"
  local title work stage
  validate_dir "${webapp}"
  validate_version "${version}"
  validate_output "${out}" war
  require_tool jar
  title="$(title_of "${webapp}")"
  [[ -f "${webapp}/WEB-INF/web.xml" ]] || log "warning: ${webapp} has no WEB-INF/web.xml"

  work="$(mktemp -d "${TMP_DIR}/war.XXXXXXXX")"
  stage="${work}/stage"
  # A copy of the folder, without a manifest of its own: the war gets the one written here.
  cp -R -- "$(abs_dir "${webapp}")" "${stage}"
  if [[ -e "${stage}/META-INF/MANIFEST.MF" ]]; then
    log "warning: ${webapp}/META-INF/MANIFEST.MF is replaced by the built manifest"
    rm -f -- "${stage}/META-INF/MANIFEST.MF"
  fi
  write_manifest "${stage}/META-INF/MANIFEST.MF" Implementation-Title "${title}" \
    Implementation-Version "${version}"
  log "packing ${title} ${version}"
  pack "${stage}" "${work}/out.war" || die 1 "jar failed for ${webapp}"
  install_artifact "${work}/out.war" "${out}"
}

# Arguments: version, destination folder.
build_samples() {
  local version="$1" out_dir="${2%/}"   # "/" becomes "": the paths below still start with "/"
  validate_version "${version}"
  [[ -z "${out_dir}" || ! -e "${out_dir}" || -d "${out_dir}" ]] || usage_error "not a folder: $2"
  build_jar "${SCRIPT_DIR}/hello-service/src" "${version}" "${out_dir}/hello-service-${version}.jar"
  build_war "${SCRIPT_DIR}/hello-war" "${version}" "${out_dir}/hello-war-${version}.war"
}

#######################################
# Main
#######################################
main() {
  trap cleanup EXIT
  trap 'on_error "${LINENO}" "${BASH_COMMAND}"' ERR
  parse_args "$@"
  TMP_DIR="$(mktemp -d "${TMPDIR:-/tmp}/tssr-java-build.XXXXXXXX")"
  case "${COMMAND}" in
    jar) build_jar "${ARGS[@]}" ;;
    war) build_war "${ARGS[@]}" ;;
    samples) build_samples "${ARGS[@]}" ;;
  esac
}

main "$@"
