process ANNOTATE {
    tag "${sample}"
    label 'process_low'
    publishDir "${params.outdir}/vcf", mode: 'copy'

    input:
    tuple val(sample), path(vcf), path(tbi)
    path reference
    path reference_index
    path annotation
    path snpeff_db          // snpEffectPredictor.bin (bin/build_snpeff_db); [] -> bcftools csq
    path canonical          // canonical transcripts (snpEff -canonList); [] when not given
    path gnomad             // sites VCF and its .tbi; [] when not given
    path gnomad_index
    path clinvar            // ClinVar VCF and its .tbi; [] when not given
    path clinvar_index

    output:
    tuple val(sample), path("${sample}.vcf.gz"), path("${sample}.vcf.gz.tbi"), emit: vcf

    script:
    def options = [
        snpeff_db ? "--snpeff-db ${snpeff_db}" : '',
        canonical ? "--canonical ${canonical}" : '',
        gnomad    ? "--gnomad ${gnomad}" : '',
        clinvar   ? "--clinvar ${clinvar}" : '',
        // the Java heap of snpEff: 80% of the task's memory, leaving room for the JVM itself
        snpeff_db && task.memory ? "--memory ${Math.max(512L, (long) (task.memory.toMega() * 0.8))}m" : '',
    ].findAll { it }.join(' ')
    """
    step_hook ${task.process}
    annotate --sample ${sample} --vcf ${vcf} --reference ${reference} --annotation ${annotation} ${options}
    """
}
