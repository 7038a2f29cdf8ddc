# The dependencies of the libraries and of their public headers, in one list read both by this
# build and by the installed package config (ntk_autodiffConfig.cmake), so the two cannot differ.
# The includer defines ntk_autodiff_require(name debian-package [find_package args]): here it stops
# configuration naming the Debian package; in the package config it is find_dependency.
ntk_autodiff_require(xtl xtl-dev)
ntk_autodiff_require(xtensor libxtensor-dev)
ntk_autodiff_require(xtensor-blas libxtensor-blas-dev)
ntk_autodiff_require(BLAS libopenblas-dev)
ntk_autodiff_require(LAPACK libopenblas-dev)
ntk_autodiff_require(fmt libfmt-dev)
ntk_autodiff_require(ZLIB zlib1g-dev)  # data/: the gzip-compressed IDX files
