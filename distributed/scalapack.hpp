// The BLACS and ScaLAPACK routines distributed/ calls, declared here because Debian's
// libscalapack-openmpi ships no C header. Fortran calling convention: every argument by pointer,
// 1-based indices, and the hidden lengths of character arguments appended at the end (size_t each).
// Descriptors are the 9-integer array descinit_ fills (ScaLAPACK's "DESC").
#pragma once

#include <cstddef>

#include <mpi.h>

extern "C" {
// BLACS, C interface.
int Csys2blacs_handle(MPI_Comm comm);
void Cfree_blacs_system_handle(int handle);
void Cblacs_gridinit(int* context, const char* order, int nprow, int npcol);
void Cblacs_gridinfo(int context, int* nprow, int* npcol, int* myrow, int* mycol);
void Cblacs_gridexit(int context);

// ScaLAPACK tools.
int numroc_(const int* n, const int* nb, const int* iproc, const int* isrcproc, const int* nprocs);
void descinit_(int* desc, const int* m, const int* n, const int* mb, const int* nb, const int* irsrc, const int* icsrc,
               const int* ictxt, const int* lld, int* info);

// Cholesky factorization and solve of a distributed symmetric positive-definite matrix.
void pdpotrf_(const char* uplo, const int* n, double* a, const int* ia, const int* ja, const int* desca, int* info,
              std::size_t uplo_len);
void pdpotrs_(const char* uplo, const int* n, const int* nrhs, const double* a, const int* ia, const int* ja,
              const int* desca, double* b, const int* ib, const int* jb, const int* descb, int* info, std::size_t uplo_len);
// C = alpha op(A) op(B) + beta C.
void pdgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k, const double* alpha,
             const double* a, const int* ia, const int* ja, const int* desca, const double* b, const int* ib,
             const int* jb, const int* descb, const double* beta, double* c, const int* ic, const int* jc,
             const int* descc, std::size_t transa_len, std::size_t transb_len);

// LAPACK, for the single-process reference.
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info, std::size_t uplo_len);
void dpotrs_(const char* uplo, const int* n, const int* nrhs, const double* a, const int* lda, double* b, const int* ldb,
             int* info, std::size_t uplo_len);
}
