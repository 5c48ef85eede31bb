process WRITE_METADATA {
    tag "${sample}"
    label 'process_single'
    publishDir "${params.outdir}", mode: 'copy'

    input:
    tuple val(sample), path(fastp_json), path(fastp_html), path(flagstat), path(bam), path(bai),
          path(vcf), path(tbi), path(final_table), path(qc_json), path(gene_coverage)
    tuple path(r1), path(r2), path(reference), path(targets), path(annotation)
    path snpeff_db          // the annotation sources used, [] for those not used
    path gnomad
    path clinvar
    val params_json         // one line of JSON
    val trace_path          // read when this task can see it (local and shared file systems)
    val tools

    output:
    path "metadata.json", emit: metadata

    script:
    def build = params.reference_build ? "--reference-build '${params.reference_build}'" : ''
    def sources = [
        snpeff_db ? "--source snpeff=${snpeff_db}" : '',
        gnomad ? "--source gnomad=${gnomad}" : '',
        gnomad && params.gnomad_version ? "--source-version 'gnomad=${params.gnomad_version}'" : '',
        clinvar ? "--source clinvar=${clinvar}" : '',
        clinvar && params.clinvar_version ? "--source-version 'clinvar=${params.clinvar_version}'" : '',
    ].findAll { it }.join(' ')
    """
    step_hook ${task.process}
    printf '%s\\n' '${params_json.replace("'", "'\\''")}' > params.json
    write_metadata --sample ${sample} --runner nextflow --reference ${reference} \\
        --pipeline-version '${workflow.manifest.version}' \\
        --annotation ${annotation} --params params.json --trace '${trace_path}' --tools ${tools} ${build} \\
        --input r1=${r1} --input r2=${r2} --input reference=${reference} \\
        --input targets=${targets} --input annotation=${annotation} ${sources} \\
        --output fastp_json=${fastp_json} --output fastp_html=${fastp_html} \\
        --output flagstat=${flagstat} --output bam=${bam} --output bai=${bai} \\
        --output vcf=${vcf} --output tbi=${tbi} --output final_table=${final_table} \\
        --output qc_json=${qc_json} --output gene_coverage=${gene_coverage}
    """
}
