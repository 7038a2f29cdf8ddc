# Installs the Debian packages the project needs (sourced by test.sh and reproduce.sh).
# Only what is missing is installed; apt-get runs through sudo when not root.
BUILD_PACKAGES=(cmake g++ make pkg-config libxtensor-dev libxtensor-blas-dev libxsimd-dev libopenblas-dev
  liblapack-dev catch2 librapidcheck-dev libfmt-dev libcli11-dev nlohmann-json3-dev)

install_packages() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing missing Debian packages: ${missing[*]}"
  local apt=(apt-get)
  if [ "$(id -u)" -ne 0 ]; then apt=(sudo apt-get); fi
  "${apt[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}"
}
