#!/usr/bin/env nextflow
/*
 * WES Portal germline exome pipeline (one sample per run).
 *
 *   nextflow run nextflow/main.nf -profile standard --sample S --r1 R1.fastq.gz --r2 R2.fastq.gz \
 *       --reference ref.fa --targets targets.bed --annotation genes.gff3 --outdir OUT
 *
 * Every step is a script in bin/ (on PATH for every task). The steps, in this order, are listed in
 * steps.json, which bin/run-local (the runner without Nextflow) follows too.
 */
nextflow.enable.dsl=2

import groovy.json.JsonOutput

include { FASTP_QC        } from './modules/fastp_qc'
include { BWA_ALIGN       } from './modules/bwa_align'
include { SORT_FIXMATE    } from './modules/sort_fixmate'
include { FLAGSTAT        } from './modules/flagstat'
include { MARK_DUPLICATES } from './modules/mark_duplicates'
include { CALL_VARIANTS   } from './modules/call_variants'
include { NORMALISE       } from './modules/normalise'
include { SOFT_FILTER     } from './modules/soft_filter'
include { ANNOTATE        } from './modules/annotate'
include { FINAL_TABLE     } from './modules/final_table'
include { QC_SUMMARY      } from './modules/qc_summary'
include { WRITE_METADATA  } from './modules/write_metadata'

// Parameters recorded in metadata.json (the same keys as bin/run-local records).
def recordedParams() {
    return ['sample', 'r1', 'r2', 'reference', 'targets', 'annotation', 'outdir',
            'markdup', 'caller', 'min_qual', 'min_depth', 'indel_gap', 'min_mapq',
            'min_baseq', 'known_sites', 'snpeff_db', 'canonical', 'gnomad', 'gnomad_version',
            'clinvar', 'clinvar_version', 'reference_build', 'max_cpus',
            'qc_min_q30_rate', 'qc_min_mapped_pct', 'qc_max_duplication_pct', 'qc_min_mean_depth',
            'qc_min_pct_targets_20x', 'qc_min_pct_bases_20x',
            'qc_fail_min_q30_rate', 'qc_fail_min_mapped_pct', 'qc_fail_max_duplication_pct',
            'qc_fail_min_mean_depth', 'qc_fail_min_pct_bases_20x']
}

def validateParams() {
    def missing = ['sample', 'r1', 'r2', 'reference', 'targets', 'annotation', 'outdir'].findAll { !params[it] }
    if (missing) {
        error "Missing required parameter(s): ${missing.collect { '--' + it }.join(', ')}"
    }
    if (!(params.sample ==~ /[A-Za-z0-9][A-Za-z0-9._-]*/)) {
        error "Invalid --sample '${params.sample}': letters, digits, '.', '_' and '-' only"
    }
    def choices = [markdup: ['samtools', 'picard'], caller: ['bcftools', 'gatk']]
    choices.each { name, allowed ->
        if (!(params[name] in allowed)) {
            error "Invalid --${name} '${params[name]}': expected one of ${allowed.join(', ')}"
        }
    }
    ['min_qual', 'min_depth', 'indel_gap', 'min_mapq', 'min_baseq', 'qc_min_q30_rate',
     'qc_min_mapped_pct', 'qc_max_duplication_pct', 'qc_min_mean_depth', 'qc_min_pct_targets_20x',
     'qc_min_pct_bases_20x'].each { name ->
        if (!(params[name].toString() ==~ /\d+(\.\d+)?/)) {
            error "Invalid --${name} '${params[name]}': expected a non-negative number"
        }
    }
    if (params.caller == 'gatk' && !params.known_sites) {
        error "--caller gatk needs --known_sites (a bgzipped, indexed VCF of known variants)"
    }
    // Optional annotation files: a file that is named must be there (and indexed), or the run
    // stops here with the parameter's name rather than in a task with a tool's message.
    ['snpeff_db', 'canonical', 'gnomad', 'clinvar'].each { name ->
        if (params[name]) {
            def f = file(params[name])
            if (!f.exists() || !f.isFile() || !f.canRead()) {
                error "--${name}: file not found or not readable: ${params[name]}"
            }
        }
    }
    ['gnomad', 'clinvar'].each { name ->
        if (params[name] && !file("${params[name]}.tbi").exists()) {
            error "--${name}: not indexed: no ${params[name]}.tbi beside it (bgzip the VCF, then tabix -p vcf)"
        }
    }
    ['gnomad_version', 'clinvar_version'].each { name ->
        if (params[name] && !(params[name].toString() ==~ /[A-Za-z0-9][A-Za-z0-9._:+ -]*/)) {
            error "Invalid --${name} '${params[name]}': letters, digits and . _ : + - only"
        }
    }
}

def toolsUsed() {
    def tools = ['fastp', 'bwa', 'samtools', 'bcftools', 'tabix', 'bgzip']
    if (params.markdup == 'picard') tools << 'picard'
    if (params.caller == 'gatk') tools << 'gatk'
    if (params.snpeff_db) tools += ['java', 'snpeff']
    return tools.join(',')
}

workflow {
    validateParams()

    reads      = Channel.of([params.sample, file(params.r1, checkIfExists: true), file(params.r2, checkIfExists: true)])
    reference  = file(params.reference, checkIfExists: true)
    targets    = file(params.targets, checkIfExists: true)
    annotation = file(params.annotation, checkIfExists: true)
    // Index files already beside the reference are staged with it; missing ones are built by the steps.
    ref_index  = ['fai', 'gzi', 'amb', 'ann', 'bwt', 'pac', 'sa']
        .collect { file("${params.reference}.${it}") }
        .findAll { it.exists() }
    known      = params.known_sites ? file(params.known_sites, checkIfExists: true) : []
    known_idx  = params.known_sites ? file("${params.known_sites}.tbi", checkIfExists: true) : []
    // Annotation sources, each optional ([] when not given); the VCFs bring their .tbi.
    snpeff_db  = params.snpeff_db ? file(params.snpeff_db, checkIfExists: true) : []
    canonical  = params.canonical ? file(params.canonical, checkIfExists: true) : []
    gnomad     = params.gnomad ? file(params.gnomad, checkIfExists: true) : []
    gnomad_idx = params.gnomad ? file("${params.gnomad}.tbi", checkIfExists: true) : []
    clinvar    = params.clinvar ? file(params.clinvar, checkIfExists: true) : []
    clinvar_idx = params.clinvar ? file("${params.clinvar}.tbi", checkIfExists: true) : []

    FASTP_QC(reads)
    BWA_ALIGN(FASTP_QC.out.reads, reference, ref_index)
    SORT_FIXMATE(BWA_ALIGN.out.bam)
    FLAGSTAT(SORT_FIXMATE.out.bam)
    MARK_DUPLICATES(SORT_FIXMATE.out.bam)
    CALL_VARIANTS(MARK_DUPLICATES.out.bam, reference, ref_index, targets, known, known_idx)
    NORMALISE(CALL_VARIANTS.out.vcf, reference, ref_index)
    SOFT_FILTER(NORMALISE.out.vcf)
    ANNOTATE(SOFT_FILTER.out.vcf, reference, ref_index, annotation, snpeff_db, canonical,
             gnomad, gnomad_idx, clinvar, clinvar_idx)
    FINAL_TABLE(ANNOTATE.out.vcf)
    qc_inputs = FASTP_QC.out.report
        .map { id, fastp_json, fastp_html -> [id, fastp_json] }
        .join(FLAGSTAT.out.flagstat)
        .join(MARK_DUPLICATES.out.stats)
        .join(MARK_DUPLICATES.out.bam)
    QC_SUMMARY(qc_inputs, targets, annotation, canonical)

    results = FASTP_QC.out.report
        .join(FLAGSTAT.out.flagstat)
        .join(MARK_DUPLICATES.out.bam)
        .join(ANNOTATE.out.vcf)
        .join(FINAL_TABLE.out.table)
        .join(QC_SUMMARY.out.qc)
    inputs = Channel.value([file(params.r1), file(params.r2), reference, targets, annotation])
    params_json = JsonOutput.toJson(recordedParams().collectEntries { [(it): params[it]] })
    trace_path = file("${params.outdir}/pipeline_info/trace.txt").toString()
    WRITE_METADATA(results, inputs, snpeff_db, gnomad, clinvar, params_json, trace_path, toolsUsed())
}

workflow.onComplete {
    log.info(workflow.success
        ? "WES pipeline completed: results in ${params.outdir}"
        : "WES pipeline failed: ${workflow.errorMessage}")
}
