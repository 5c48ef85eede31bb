import argparse
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from jobs.runs.reference import ReferenceError, reference_load
from storage.s3 import StorageError

HELP = """\
Load a reference bundle into the reference bucket under BUILD/, with a manifest of every file's
role, size and SHA-256 that workers verify before every run. Safe to run again: files already
stored with the same SHA-256 are not uploaded again, and nothing is rebuilt whose inputs did not
change; the manifest is written last, so a half-loaded bundle is never used.

DIRECTORY/bundle.json declares the bundle (file names are in DIRECTORY):

  {"reference": "ref.fa", "targets": "targets.bed", "annotation": "genes.gff3",
   "canonical_transcripts": "canonical_transcripts.txt",
   "sources": {
     "gnomad":  {"file": "gnomad.vcf.gz",  "name": "gnomAD", "version": "4.1"},
     "clinvar": {"file": "clinvar.vcf.gz", "name": "ClinVar", "version": "2025-01-05"},
     "hpo":     {"file": "phenotype_to_genes.txt", "name": "HPO", "version": "2025-01-16"}}}

reference, targets and annotation (GFF3) are required; canonical_transcripts and each source are
optional. A declared file that is missing is an error naming it; a source not declared is simply
absent (runs go without it). gnomAD and ClinVar are bgzipped VCFs with their .tbi beside them.
Without bundle.json, DIRECTORY must hold exactly one *.fa, *.bed and *.gff3 (the old layout: no
snpEff database, no sources).

Built once here, never per job, in DIRECTORY/.load_reference/ (or --scratch): the .fai
(samtools faidx), the bwa index, and for a bundle.json bundle the snpEff database
(nextflow/bin/build_snpeff_db, from the bundle's FASTA and GFF3).
"""


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = argparse.RawDescriptionHelpFormatter   # keep the JSON's lines
        return parser

    def add_arguments(self, parser):
        parser.add_argument("build", help="bundle name, e.g. wes-mini")
        parser.add_argument("directory", type=Path, help="the bundle's files (and bundle.json)")
        parser.add_argument("--scratch", type=Path,
                            help="where built files are kept between loads "
                                 "[DIRECTORY/.load_reference]")

    def handle(self, *args, build: str, directory: Path, scratch: Path | None, **options):
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a directory")
        quiet = options["verbosity"] < 1
        try:
            manifest = reference_load(build=build, directory=directory, scratch=scratch,
                                      say=(lambda line: None) if quiet else self.stdout.write)
        except (ReferenceError, StorageError) as exc:
            raise CommandError(str(exc)) from exc
        if quiet:
            return
        self.stdout.write(f"\nreference build {build} ({manifest['layout']}):")
        for role, entry in sorted(manifest["files"].items()):
            self.stdout.write(f"  {role:<22} {entry['name']:<28} {entry['size']:>15,} bytes  "
                              f"sha256 {entry['sha256']}")
        if manifest["sources"]:
            self.stdout.write("sources:")
        for name, source in sorted(manifest["sources"].items()):
            self.stdout.write(f"  {name:<22} {source['name']} {source['version']} "
                              f"({source['file']}, sha256 {source['sha256']})")
        self.stdout.write(self.style.SUCCESS(f"reference build {build} loaded and verified"))
